"""A minimal Django site that embeds the storage apps, as the README's "Embed in your Django
site" section tells a site to: its own settings, URLs, users and apps (two of them labelled
`core` and `accounts`, as many sites' are), and the API mounted under `/api/storage/v1/`."""
