"""A minimal Django site that embeds the storage apps, as the README's "Embed in your Django
site" section tells a site to: its own settings, URLs, custom user model and top-level apps
`core` and `accounts` (as many sites have), and the API mounted under `/api/storage/v1/`."""
