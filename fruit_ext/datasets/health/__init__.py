"""Dataset health: hashes, groups, statistics, pictures, the HTML report."""
