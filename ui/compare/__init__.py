"""The Compare runs page's parts (``pages/compare.py`` reads them, calls, and lays them out):

- ``runs``: which runs go together (finished runs per dataset), their settings and hover text;
- ``tasks``: the rate–distortion points and disentanglement scores still missing, as background tasks;
- ``plane``: the rate–distortion plane and the ELBO-surgery split of each run's rate;
- ``align``: two runs' (or two epochs') latent maps aligned point by point by Procrustes;
- ``scores``: the disentanglement scores across seeds, and the words for each score;
- ``figures``: the charts of all of these, as plotly dicts.
"""
