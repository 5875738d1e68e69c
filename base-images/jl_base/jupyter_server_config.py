# jl_base's Jupyter server settings (/etc/jupyter/jupyter_server_config.py). The image's CMD
# repeats the essentials on the command line, so they hold whatever a user's config says.
c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/home/datalab"

# No token and no password: a datalab is reachable only through the platform's authenticating
# proxy, which decides who may open it. With the token empty, jupyter_server 2's IdentityProvider
# treats every request as an anonymous user, so the health path /api/status answers 200 without
# credentials. allow_unauthenticated_access (jupyter_server >= 2.13) is left at its default,
# True; it must stay True: False would make handlers without an explicit auth decorator refuse
# anonymous requests.
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = ""
c.ServerApp.allow_unauthenticated_access = True
# The proxy sends its own public host name and the client's address.
c.ServerApp.allow_remote_access = True
c.ServerApp.trust_xheaders = True

# No calls to the internet from the server: no news feed, no update check.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
