"""A local stand-in for the Wix Labels API and the label parts of Contacts v4."""
