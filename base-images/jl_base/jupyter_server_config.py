# jl_base's Jupyter server settings (/etc/jupyter/jupyter_server_config.py). The image's CMD
# repeats the essentials on the command line, so they hold whatever a user's config says.
c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/home/datalab"

# No token and no password: a datalab is reachable only through the platform's authenticating
# proxy, which decides who may open it. This is what makes the health path public: /api/status
# is `@web.authenticated`, and with an empty token (and no password) jupyter_server 2's
# IdentityProvider gives every request an anonymous user, so it answers 200 without
# credentials (with a token it answers 403). allow_unauthenticated_access (jupyter_server
# >= 2.13) only governs handlers without any auth rule; it is stated at its default, True.
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = ""
c.ServerApp.allow_unauthenticated_access = True
# The proxy sends its own public host name and the client's address.
c.ServerApp.allow_remote_access = True
c.ServerApp.trust_xheaders = True

# No calls to the internet from the server: no news feed, no update check.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
