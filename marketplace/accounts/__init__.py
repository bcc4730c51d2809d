"""Who may do what in the marketplace: the seller and buyer roles (Django groups; see `roles`)."""
