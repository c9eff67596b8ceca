"""The Train page's parts (``pages/train.py`` reads them, calls, and lays them out):

- ``form``: the dataset choice and the training form, read into one ``RunConfig`` (the one path from
  form to the command line ``python -m vae.train``), and starting the run or the sweep;
- ``posteriors``: the form's posterior options (flows, categorical, Dirichlet);
- ``sweep``: the form's sweep fields, queueing a sweep, and the line the monitor shows while it runs;
- ``monitor``: the running or last job: progress, Stop, its outcome, its curves and trainer output.
"""
