"""List querying (spec/03): filters, sorting, pagination tokens and `_fields`, compiled to SQL
per database dialect."""
