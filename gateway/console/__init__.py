"""`credgate console`: a local web console for regulators and security officers.

A client of the gateway, not a new door: it serves on 127.0.0.1 only and calls the gateway
over gRPC as the officer's own party, so it can do what that party may do and nothing
more. Public parts: ``runner`` (start it), ``app`` (the pages), ``security`` (who may use
it); ``static/verify.js`` is the browser's own checker of the log's proofs.
"""
