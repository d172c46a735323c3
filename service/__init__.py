"""The HTTP inference service (FastAPI); see service/app.py."""
