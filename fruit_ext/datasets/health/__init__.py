"""Dataset health: pictures of suspects, per-image statistics, the HTML report."""
