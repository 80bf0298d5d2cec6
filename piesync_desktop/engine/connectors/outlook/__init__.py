"""Outlook 365 contacts through Microsoft Graph, signed in with msal: a contact folder each."""
