"""The release rehearsal: one release goes live and comes back across every plane, on real engines here.

    cicd rehearse        (make rehearsal)

docs/rehearsal.md says what runs for real, what is modelled, and how to read the figures.
"""
