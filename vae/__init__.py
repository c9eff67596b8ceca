"""VAE Latent Explorer's library: data, models, objectives, training, run folders
and analysis. Importable and testable without Streamlit."""
