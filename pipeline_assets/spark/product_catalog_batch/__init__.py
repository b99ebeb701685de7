"""Product catalog: the PIM's daily CSV export conformed to the curated products table."""
