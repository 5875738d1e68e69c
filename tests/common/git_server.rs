//! A real git server for tests: bare repositories served over smart HTTP on 127.0.0.1 by
//! `git http-backend` (CGI) behind a minimal HTTP/1.1 server, plus a server that accepts
//! connections and never answers, to test timeouts.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// Serves every bare repository under its project root at `http://127.0.0.1:PORT/<name>.git`.
pub struct GitServer {
    pub base_url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl GitServer {
    pub fn start(project_root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let project_root = project_root.to_path_buf();
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let project_root = project_root.clone();
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &project_root, &log));
            }
        });
        Self { base_url, requests }
    }

    /// Requests received so far (`GET /lab.git/info/refs?service=git-upload-pack`).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Accepts connections on 127.0.0.1 and never answers them.
pub struct SilentServer {
    pub base_url: String,
}

impl SilentServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Self { base_url }
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn read(reader: &mut impl BufRead) -> Option<Self> {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return None;
        }
        let mut parts = request_line.trim_end().split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut request = Self {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                request
                    .headers
                    .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        request.body = if request
            .header("transfer-encoding")
            .is_some_and(|value| value.contains("chunked"))
        {
            read_chunked(reader)
        } else {
            let length = request
                .header("content-length")
                .map_or(0, |value| value.parse().unwrap());
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            body
        };
        Some(request)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

fn serve(mut stream: TcpStream, project_root: &Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let Some(request) = Request::read(&mut reader) else {
        return;
    };
    log.lock().unwrap().push(format!(
        "{} {}?{}",
        request.method, request.path, request.query
    ));
    let cgi = run_backend(request, project_root);
    let split = cgi
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| {
            cgi.windows(2)
                .position(|window| window == b"\n\n")
                .map(|at| (at, 2))
        })
        .unwrap_or((cgi.len(), 0));
    let cgi_headers = String::from_utf8_lossy(&cgi[..split.0]).into_owned();
    let cgi_body = &cgi[(split.0 + split.1).min(cgi.len())..];
    let mut status = "200 OK";
    let mut response_headers = String::new();
    for line in cgi_headers.lines().filter(|line| !line.is_empty()) {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim(),
            _ => {
                response_headers.push_str(line);
                response_headers.push_str("\r\n");
            }
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        cgi_body.len()
    );
    let _ = stream.write_all(cgi_body);
}

/// Runs `git http-backend` for one request and returns its CGI output.
fn run_backend(request: Request, project_root: &Path) -> Vec<u8> {
    let mut backend = Command::new(HTTP_BACKEND);
    backend
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, variable) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(name) {
            backend.env(variable, value);
        }
    }
    let mut child = backend.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = request.body;
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output.stdout
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A bare repository built from `tests/fixtures/sources/lab`, with history to fetch by
/// branch, tag and commit.
pub struct FixtureRepository {
    /// First commit: tagged `v1.0` (annotated) and `light` (lightweight); not a branch tip.
    pub first: String,
    /// Tip of `main`: adds `notebooks/second.ipynb`.
    pub main_tip: String,
    /// Tip of `dev`: adds `dev-only.txt` on top of the first commit.
    pub dev_tip: String,
}

impl FixtureRepository {
    /// Creates `<project_root>/<name>.git`.
    pub fn create(project_root: &Path, name: &str) -> Self {
        let work = project_root.join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet", "--initial-branch=main"]);
        copy_folder(&fixture_folder(), &work);
        git(&work, &["add", "--all"]);
        git(&work, &["commit", "--quiet", "-m", "First notebook"]);
        let first_commit = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["tag", "-a", "v1.0", "-m", "Version 1.0"]);
        git(&work, &["tag", "light"]);
        git(&work, &["checkout", "--quiet", "-b", "dev"]);
        std::fs::write(work.join("dev-only.txt"), "work in progress\n").unwrap();
        git(&work, &["add", "--all"]);
        git(&work, &["commit", "--quiet", "-m", "Dev work"]);
        let dev_commit = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["checkout", "--quiet", "main"]);
        std::fs::write(work.join("notebooks/second.ipynb"), "{}\n").unwrap();
        git(&work, &["add", "--all"]);
        git(&work, &["commit", "--quiet", "-m", "Second notebook"]);
        let main_commit = git(&work, &["rev-parse", "HEAD"]);

        serve_bare_clone(project_root, name, &work);
        std::fs::remove_dir_all(&work).unwrap();
        Self {
            first: first_commit,
            main_tip: main_commit,
            dev_tip: dev_commit,
        }
    }
}

/// Makes the folder `work` a git repository holding every file in it, `.gitignore`d or not,
/// in one commit on `main`, and serves it as `<project_root>/<name>.git`. `work` keeps its
/// `.git`, as an author's working tree does. Returns the commit.
pub fn publish_folder(project_root: &Path, name: &str, work: &Path) -> String {
    git(work, &["init", "--quiet", "--initial-branch=main"]);
    git(work, &["add", "--all", "--force"]);
    git(work, &["commit", "--quiet", "-m", "Published as it is"]);
    let commit = git(work, &["rev-parse", "HEAD"]);
    serve_bare_clone(project_root, name, work);
    commit
}

/// Clones `work` into the bare repository `<project_root>/<name>.git`, set up to serve any
/// commit and partial clones, never to receive.
fn serve_bare_clone(project_root: &Path, name: &str, work: &Path) {
    let bare = project_root.join(format!("{name}.git"));
    git(
        project_root,
        &[
            "clone",
            "--quiet",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    for setting in [
        ["uploadpack.allowAnySHA1InWant", "true"],
        ["uploadpack.allowFilter", "true"],
        ["http.receivepack", "false"],
    ] {
        git(&bare, &["config", setting[0], setting[1]]);
    }
}

pub fn fixture_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sources/lab")
}

fn git(directory: &Path, arguments: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(directory)
        .args(arguments)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Lab Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.org")
        .env("GIT_COMMITTER_NAME", "Lab Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.org")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub fn copy_folder(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
