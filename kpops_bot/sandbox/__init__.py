"""Process isolation for code from a repository: the layers (`namespaces`, `uid`, `off`) and bubblewrap command lines
(`layers`), the system calls a confined process makes (`confine`), and the trees opened to other uids
(`permissions`). Renders, managed kpops and the import check of a kpops environment share it, so it sits below
`engine`, `versions` and `managed`."""
