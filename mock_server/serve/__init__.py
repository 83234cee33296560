"""Entry points: the app factory (`app`), the control API (`control`), production servers
(`server`) and the command line (`cli`)."""
