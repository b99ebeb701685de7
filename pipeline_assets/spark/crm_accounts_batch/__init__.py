"""CRM accounts: the daily CRM export conformed to the curated accounts table."""
