"""Custom Streamlit components (Components v2, no iframe). Their JavaScript and CSS live beside them
in ``assets/`` and reach the browser through the app itself: nothing is fetched from elsewhere."""
