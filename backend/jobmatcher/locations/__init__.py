"""Backup locations off this disk: folders and S3-compatible storage, encrypted with age.

client.py    the one interface every kind of location implements
folder.py    FolderLocation (USB drives, shares, synced folders)
s3.py        S3Location (boto3)
crypto.py    age identity and encryption (pyrage)
encproc.py   age in a child process (it holds the GIL), the ciphertext through a pipe
pipeline.py  threads around age: read-back behind the writer, hashing beside it
credentials.py  access keys in the OS keyring or a 0600 file
config.py    locations.json and locations-state.json
remote.py    the layout at a location, listing copies, fetching one back verified
manager.py   Locations: add/remove, copy (sync), retention, status, health
copier.py    copying in the background (a thread in the app, a detached process after the CLI)
recovery.py  restoring from a location through the normal restore path
"""
