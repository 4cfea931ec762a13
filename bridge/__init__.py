"""The bundled terminal client: ``python -m bridge`` (see README.md here)."""
