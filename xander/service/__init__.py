"""xander as an HTTP service (``xander serve``): a FastAPI app over the Python API."""
