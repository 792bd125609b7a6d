"""The layer every lesson stands on: paths, settings, profiles, models, data, training, evaluation, memory, stored references. Imports nothing above it."""
