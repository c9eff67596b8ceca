"""The Latent map page's parts (pages/latent_map.py lays them out): ``view`` (its widgets, read into
one View), ``data`` (the map's points, projection and colours, cached), ``projection`` (the kept
projection and the background task that computes it), ``picks`` (the selection and the placed
points in session state), ``panels`` (the picked point, group or probe, placing new points) and
``refine`` ("Refine this posterior": iterative inference on one image)."""
