"""Point-in-time feature sets and labels, computed in DuckDB SQL."""
