"""Serve catalogue.csv as an HTML table on port 8050, with /health for the platform's probe."""

import csv
import html
import http.server
import pathlib

CATALOGUE = pathlib.Path(__file__).with_name("catalogue.csv")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, "text/plain", "ok")
            return
        with CATALOGUE.open(newline="") as stream:
            rows = list(csv.reader(stream))
        table = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        page = f"<title>Catalogue browser</title><h1>Catalogue</h1><table>{table}</table>"
        self.reply(200, "text/html", page)

    def reply(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("0.0.0.0", 8050), Handler).serve_forever()
