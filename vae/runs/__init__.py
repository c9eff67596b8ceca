"""Run folders: where they live, save/load, the catalogue, the one validator, zip archives,
snapshots, process identities, and the dataset of a run."""
