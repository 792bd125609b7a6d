"""Speed tricks (row attention, token and SFT caches), kept in one corner of core."""
