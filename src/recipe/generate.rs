//! The Dockerfile labforge writes for a datalab without one of its own.
//!
//! Layer order follows what changes least: the base, then the Debian packages of `apt.txt` (one
//! layer, installed as root from BuildKit's apt cache mounts, as the base images install theirs),
//! then the Python environment, then the author's content, then `postBuild` (which, as on Binder,
//! runs with the repository's files present). The environment is installed with uv from a
//! BuildKit cache mount, one layer per requirement in file order (up to [`MAX_ENVIRONMENT_LAYERS`]): each layer installs the
//! requirements up to and including its own, so uv resolves them together, finds the earlier ones
//! already installed and adds only what is new. Appending a requirement therefore rebuilds and
//! pushes one small layer instead of the whole environment. Requirement files reach the build as
//! bind mounts, so they never end up in the image, and the build host's CA bundle is mounted the
//! same way for the steps that reach the package index.
//!
//! The base's own Python packages stay as they are: before the first environment layer, `uv pip
//! freeze` writes what the base's virtualenv holds to [`BASE_PACKAGES`], and every layer installs
//! with it as constraints. A requirement may add packages, never replace one of the base's
//! (`jupyterlab<4` would have downgraded `jl_base`'s JupyterLab); uv then fails with "you require
//! jupyterlab<4 and jupyterlab==4.6.6", which the pipeline explains. The list is taken from the
//! base image as built (not from the lock in base-images/), so it is right for every base and
//! version, including packages the lock does not list (uv); the step is cached with the base.
//! Packaging tools (pip, setuptools, wheel) are left out of it: upgrading them breaks nothing the
//! base runs, and packages do ask for newer ones.

use std::fmt::Write as _;

use super::application::{application_files, copy_instruction};
use super::base::BaseImage;
use crate::metadata::DesktopApplication;

/// Bumped whenever the generated Dockerfile changes shape; part of the environment hash.
pub const RECIPE_VERSION: u32 = 4;

/// More layers than this and the tail of the requirements shares the last one.
pub const MAX_ENVIRONMENT_LAYERS: usize = 16;

/// Where labforge's own files sit in the build context; the author's files sit under `content/`.
pub const CONTEXT_DIR: &str = ".labforge";
pub const CONTENT_DIR: &str = "content";
pub const CA_BUNDLE_IN_CONTEXT: &str = ".labforge/ca-certificates.crt";

const VENV: &str = "/opt/datalab/venv";
const VENV_PYTHON: &str = "/opt/datalab/venv/bin/python";

/// The base's Python packages as installed (`name==version` lines), the constraints of every
/// environment layer; also in the image, for whoever wants to know what the base brought.
pub const BASE_PACKAGES: &str = "/opt/datalab/base-packages.txt";

/// Where `postBuild` is placed in the build context (and mounted from, when it runs).
pub const POST_BUILD_IN_CONTEXT: &str = ".labforge/postBuild";

/// The author's `postBuild` and the interpreter its `#!` line names.
#[derive(Debug, Clone, Copy)]
pub struct PostBuildStep<'a> {
    /// Checked by [`super::binder::post_build`]: absolute path and at most one plain argument.
    pub interpreter: &'a [String],
    pub script: &'a str,
}

/// What a generic (any web tool) datalab runs and how it is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCommand {
    pub command: Vec<String>,
    pub port: u16,
    pub health_path: String,
}

#[derive(Debug, Clone)]
pub struct RecipeInput<'a> {
    pub base: BaseImage,
    /// The datalab's name; its content is copied to `/home/datalab/<name>`.
    pub name: &'a str,
    /// Debian packages (`name` or `name=version`, checked by [`super::binder::apt`]).
    pub apt_packages: &'a [String],
    /// Canonical requirement lines in file order.
    pub requirements: &'a [String],
    /// Canonical constraint lines (`-c` files), applied to every layer.
    pub constraints: &'a [String],
    /// Index options the operator allows (`--index-url ...`), written at the top of every layer's
    /// requirement file.
    pub index_options: &'a [String],
    pub service: Option<&'a ServiceCommand>,
    /// A desktop datalab's application, written where `x_base` reads it.
    pub application: Option<&'a DesktopApplication>,
    pub post_build: Option<PostBuildStep<'a>>,
}

/// A Dockerfile and the files it expects in the context next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRecipe {
    pub dockerfile: String,
    pub files: Vec<(String, String)>,
}

/// Requirement lines grouped into layers: one per requirement, the tail sharing the last layer.
pub fn environment_layers(requirements: &[String]) -> Vec<&[String]> {
    if requirements.len() <= MAX_ENVIRONMENT_LAYERS {
        return requirements.chunks(1).collect();
    }
    let (single, tail) = requirements.split_at(MAX_ENVIRONMENT_LAYERS - 1);
    single.chunks(1).chain(std::iter::once(tail)).collect()
}

/// The step that lists the base's Python packages as installed, for the environment layers'
/// constraints. uv's own cache stays in the cache mount and the list gets a fixed modification
/// time, so the layer is the same bytes whenever the base is the same.
fn write_base_packages(dockerfile: &mut String) {
    let _ = writeln!(
        dockerfile,
        "# The base's Python packages as installed: the constraints of every environment \
         layer,\n# so requirements add packages but never replace one of the base's \
         (packaging tools\n# aside: pip, setuptools and wheel may be upgraded).\n\
         RUN --mount=type=cache,id=labforge-uv,target=/var/cache/labforge-uv,uid=1000,gid=1000 \\\n    \
         UV_CACHE_DIR=/var/cache/labforge-uv \\\n    \
         uv pip freeze --python {VENV_PYTHON} > {BASE_PACKAGES} \\\n    \
         && sed -i -E '/^(pip|setuptools|wheel)==/d' {BASE_PACKAGES} \\\n    \
         && touch -h -d @0 {BASE_PACKAGES} /opt/datalab\n"
    );
}

pub fn generate(input: &RecipeInput<'_>) -> GeneratedRecipe {
    let base = input.base;
    let mut dockerfile = String::new();
    let mut files = Vec::new();
    let _ = writeln!(
        dockerfile,
        "# check=skip=InvalidDefaultArgInFrom\n\
         # Generated by labforge (recipe {RECIPE_VERSION}) for the datalab {name}. The base is\n\
         # always given as build arguments, so its ARGs have no defaults.\n\
         ARG REGISTRY\n\
         ARG {version}\n\
         FROM ${{REGISTRY}}/datalabs/{image}:${{{version}}}\n",
        name = input.name,
        version = base.version_arg(),
        image = base.image_name(),
    );

    if !input.apt_packages.is_empty() {
        write_apt_layer(&mut dockerfile, input.apt_packages);
    }

    if !input.constraints.is_empty() {
        files.push((
            format!("{CONTEXT_DIR}/requirements/constraints.txt"),
            lines(input.constraints),
        ));
    }
    let constraints = if input.constraints.is_empty() {
        String::new()
    } else {
        format!(
            " \\\n    --mount=type=bind,source={CONTEXT_DIR}/requirements/constraints.txt,\
             target=/run/labforge/constraints.txt"
        )
    };
    let constraint_option = if input.constraints.is_empty() {
        format!(" -c {BASE_PACKAGES}")
    } else {
        format!(" -c {BASE_PACKAGES} -c /run/labforge/constraints.txt")
    };
    if !input.requirements.is_empty() {
        write_base_packages(&mut dockerfile);
    }
    let mut installed: Vec<String> = Vec::new();
    for (index, layer) in environment_layers(input.requirements)
        .into_iter()
        .enumerate()
    {
        installed.extend(layer.iter().cloned());
        let file = format!("{CONTEXT_DIR}/requirements/{:02}.txt", index + 1);
        let mut contents = lines(input.index_options);
        contents.push_str(&lines(&installed));
        files.push((file.clone(), contents));
        let _ = writeln!(
            dockerfile,
            "# Environment layer {number}: {names}\n\
             RUN --mount=type=cache,id=labforge-uv,target=/var/cache/labforge-uv,uid=1000,gid=1000 \\\n    \
             --mount=type=bind,source={CA_BUNDLE_IN_CONTEXT},target=/run/labforge/ca.crt \\\n    \
             --mount=type=bind,source={file},target=/run/labforge/requirements.txt{constraints} \\\n    \
             before=$(date +%s) \\\n    \
             && SSL_CERT_FILE=/run/labforge/ca.crt UV_SYSTEM_CERTS=1 \
             UV_CACHE_DIR=/var/cache/labforge-uv UV_LINK_MODE=copy \\\n    \
             uv pip install --python {VENV_PYTHON} -r /run/labforge/requirements.txt{constraint_option} \\\n    \
             && find {VENV} -newermt \"@$((before - 1))\" -exec touch -h -d @0 {{}} +\n",
            number = index + 1,
            names = layer.join(", "),
        );
    }

    if let Some(application) = input.application {
        files.push(application_files(application));
        let _ = writeln!(dockerfile, "{}", copy_instruction());
    }
    let _ = writeln!(
        dockerfile,
        "# The author's content, last: editing a notebook rebuilds only this layer.\n\
         COPY --chown=1000:1000 {CONTENT_DIR}/ /home/datalab/{name}/\n\
         WORKDIR /home/datalab/{name}\n\
         USER 1000",
        name = input.name,
    );
    if let Some(post_build) = input.post_build {
        write_post_build(&mut dockerfile, &mut files, post_build);
    }
    if let Some(service) = input.service {
        let command = serde_json::to_string(&service.command).expect("strings serialise");
        let _ = writeln!(
            dockerfile,
            "ENV DATALAB_PORT={port} DATALAB_HEALTH_PATH={path}\n\
             LABEL org.labforge.port=\"{port}\" org.labforge.health-path=\"{path}\"\n\
             EXPOSE {port}\n\
             CMD {command}",
            port = service.port,
            path = service.health_path,
        );
    }
    GeneratedRecipe { dockerfile, files }
}

/// The Debian packages of apt.txt, installed as root from the base images' apt cache mounts.
fn write_apt_layer(dockerfile: &mut String, apt_packages: &[String]) {
    let _ = writeln!(
        dockerfile,
        "# Debian packages from apt.txt, as root. Versions come from the base's Debian mirror.\n\
         USER 0\n\
         # hadolint ignore=DL3008\n\
         RUN --mount=type=cache,id=labforge-apt-cache,target=/var/cache/apt,sharing=locked \\\n    \
         --mount=type=cache,id=labforge-apt-lists,target=/var/lib/apt/lists,sharing=locked \\\n    \
         apt-get update \\\n    \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n       \
         {packages}\n\
         USER 1000\n",
        packages = apt_packages.join(" "),
    );
}

/// postBuild, run as the datalab user in the datalab's folder from a bind mount of the script.
fn write_post_build(
    dockerfile: &mut String,
    files: &mut Vec<(String, String)>,
    post_build: PostBuildStep<'_>,
) {
    files.push((
        POST_BUILD_IN_CONTEXT.to_owned(),
        post_build.script.to_owned(),
    ));
    let _ = writeln!(
        dockerfile,
        "# postBuild, as the datalab user in the datalab's folder, its files present (as on \
         Binder).\n\
         RUN --mount=type=bind,source={POST_BUILD_IN_CONTEXT},target=/run/labforge/postBuild \\\n    \
         --mount=type=bind,source={CA_BUNDLE_IN_CONTEXT},target=/run/labforge/ca.crt \\\n    \
         SSL_CERT_FILE=/run/labforge/ca.crt PIP_CERT=/run/labforge/ca.crt \
         REQUESTS_CA_BUNDLE=/run/labforge/ca.crt UV_SYSTEM_CERTS=1 \\\n    \
         {interpreter} /run/labforge/postBuild",
        interpreter = post_build.interpreter.join(" "),
    );
}

fn lines(entries: &[String]) -> String {
    entries.iter().fold(String::new(), |mut text, line| {
        text.push_str(line);
        text.push('\n');
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirements(count: usize) -> Vec<String> {
        (0..count)
            .map(|index| format!("package-{index}==1.0"))
            .collect()
    }

    #[test]
    fn each_requirement_gets_a_layer_until_the_cap_then_the_tail_shares_one() {
        assert_eq!(environment_layers(&requirements(3)).len(), 3);
        let many = requirements(40);
        let layers = environment_layers(&many);
        assert_eq!(layers.len(), MAX_ENVIRONMENT_LAYERS);
        assert_eq!(
            layers.last().unwrap().len(),
            40 - (MAX_ENVIRONMENT_LAYERS - 1)
        );
        assert!(environment_layers(&[]).is_empty());
    }

    #[test]
    fn appending_a_requirement_leaves_the_earlier_layers_unchanged() {
        let before = requirements(3);
        let mut after = before.clone();
        after.push("requests".to_owned());
        let input = |requirements| RecipeInput {
            base: BaseImage::JlBase,
            name: "jl-demo",
            apt_packages: &[],
            requirements,
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: None,
        };
        let old = generate(&input(&before));
        let new = generate(&input(&after));
        assert!(
            new.dockerfile
                .starts_with(old.dockerfile.split("# The author's").next().unwrap())
        );
        assert_eq!(new.files[..3], old.files[..]);
        assert_eq!(
            new.files[3].1,
            "package-0==1.0\npackage-1==1.0\npackage-2==1.0\nrequests\n"
        );
    }

    #[test]
    fn a_desktop_application_is_copied_to_etc_before_the_content() {
        let application = DesktopApplication {
            name: "TOPCAT".to_owned(),
            command: vec!["topcat".to_owned(), "stars.vot".to_owned()],
            window: None,
            maximised: false,
        };
        let recipe = generate(&RecipeInput {
            base: BaseImage::XBase,
            name: "x-topcat",
            apt_packages: &[],
            requirements: &[],
            constraints: &[],
            index_options: &[],
            service: None,
            post_build: None,
            application: Some(&application),
        });
        let copy = recipe
            .dockerfile
            .find("COPY .labforge/application.json /etc/labforge/application.json\n")
            .unwrap_or_else(|| panic!("{}", recipe.dockerfile));
        let content = recipe
            .dockerfile
            .find("COPY --chown=1000:1000 content/")
            .unwrap();
        assert!(copy < content, "{}", recipe.dockerfile);
        assert!(
            !recipe.dockerfile.contains("CMD"),
            "x_base's CMD starts the desktop"
        );
        assert_eq!(recipe.files, [application_files(&application)]);

        let plain = generate(&RecipeInput {
            base: BaseImage::XBase,
            name: "x-topcat",
            apt_packages: &[],
            requirements: &[],
            constraints: &[],
            index_options: &[],
            service: None,
            post_build: None,
            application: None,
        });
        assert!(!plain.dockerfile.contains("application.json"));
        assert!(plain.files.is_empty());
    }

    #[test]
    fn apt_packages_are_installed_as_root_before_the_python_layers() {
        let recipe = generate(&RecipeInput {
            base: BaseImage::XBase,
            name: "desk",
            apt_packages: &["jq".to_owned(), "saods9=8.4.1+dfsg-1".to_owned()],
            requirements: &["astropy".to_owned()],
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: None,
        });
        let dockerfile = &recipe.dockerfile;
        let apt = dockerfile.find("apt-get install").unwrap();
        let root = dockerfile.find("USER 0").unwrap();
        let back = dockerfile.find("USER 1000").unwrap();
        let python = dockerfile.find("uv pip install").unwrap();
        assert!(root < apt && apt < back && back < python, "{dockerfile}");
        assert!(
            dockerfile.contains("--no-install-recommends \\\n       jq saods9=8.4.1+dfsg-1\n"),
            "{dockerfile}"
        );
        assert!(dockerfile.contains("target=/var/lib/apt/lists,sharing=locked"));
        let without = generate(&RecipeInput {
            base: BaseImage::XBase,
            name: "desk",
            apt_packages: &[],
            requirements: &["astropy".to_owned()],
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: None,
        });
        assert!(!without.dockerfile.contains("apt-get"));
        assert!(!without.dockerfile.contains("USER 0"));
    }

    #[test]
    fn requirements_install_with_the_base_s_packages_as_constraints() {
        let recipe = generate(&RecipeInput {
            base: BaseImage::JlBase,
            name: "lab",
            apt_packages: &[],
            requirements: &["jupyterlab<4".to_owned(), "numpy".to_owned()],
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: None,
        });
        let dockerfile = &recipe.dockerfile;
        let freeze = dockerfile
            .find(
                "UV_CACHE_DIR=/var/cache/labforge-uv \\\n    \
                 uv pip freeze --python /opt/datalab/venv/bin/python > \
                 /opt/datalab/base-packages.txt \\\n    && sed -i -E \
                 '/^(pip|setuptools|wheel)==/d' /opt/datalab/base-packages.txt \\\n    \
                 && touch -h -d @0 /opt/datalab/base-packages.txt /opt/datalab\n",
            )
            .unwrap_or_else(|| panic!("{dockerfile}"));
        assert!(freeze < dockerfile.find("uv pip install").unwrap());
        assert_eq!(
            dockerfile
                .matches("-r /run/labforge/requirements.txt -c /opt/datalab/base-packages.txt \\\n")
                .count(),
            2,
            "{dockerfile}"
        );
        let nothing = generate(&RecipeInput {
            base: BaseImage::JlBase,
            name: "lab",
            apt_packages: &[],
            requirements: &[],
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: None,
        });
        assert!(!nothing.dockerfile.contains("uv pip"));
    }

    #[test]
    fn post_build_runs_after_the_content_as_the_datalab_user_from_a_mount() {
        let recipe = generate(&RecipeInput {
            base: BaseImage::JlBase,
            name: "lab",
            apt_packages: &[],
            requirements: &["numpy".to_owned()],
            constraints: &[],
            index_options: &[],
            service: None,
            application: None,
            post_build: Some(PostBuildStep {
                interpreter: &["/bin/bash".to_owned(), "-e".to_owned()],
                script: "#!/bin/bash -e\ntouch done\n",
            }),
        });
        let dockerfile = &recipe.dockerfile;
        let copy = dockerfile.find("COPY --chown=1000:1000 content/").unwrap();
        let user = dockerfile.rfind("USER 1000").unwrap();
        let run = dockerfile
            .find("/bin/bash -e /run/labforge/postBuild")
            .unwrap_or_else(|| panic!("{dockerfile}"));
        assert!(copy < user && user < run, "{dockerfile}");
        assert!(dockerfile.contains(
            "--mount=type=bind,source=.labforge/postBuild,target=/run/labforge/postBuild"
        ));
        assert!(recipe.files.contains(&(
            ".labforge/postBuild".to_owned(),
            "#!/bin/bash -e\ntouch done\n".to_owned()
        )));
    }

    #[test]
    fn the_dockerfile_builds_from_the_approved_base_and_ends_with_the_content() {
        let recipe = generate(&RecipeInput {
            base: BaseImage::DatalabBase,
            name: "web-tool",
            apt_packages: &[],
            requirements: &["flask>=3".to_owned()],
            constraints: &["werkzeug<4".to_owned()],
            index_options: &[],
            service: Some(&ServiceCommand {
                command: vec!["python".into(), "app.py".into()],
                port: 8050,
                health_path: "/health".into(),
            }),
            application: None,
            post_build: None,
        });
        assert!(recipe.dockerfile.contains(
            "ARG DATALAB_BASE_VERSION\nFROM ${REGISTRY}/datalabs/datalab_base:${DATALAB_BASE_VERSION}"
        ));
        assert!(
            recipe
                .dockerfile
                .contains("-c /run/labforge/constraints.txt")
        );
        assert!(
            recipe
                .dockerfile
                .contains("COPY --chown=1000:1000 content/ /home/datalab/web-tool/")
        );
        assert!(
            recipe
                .dockerfile
                .trim_end()
                .ends_with(r#"CMD ["python","app.py"]"#)
        );
        let names: Vec<_> = recipe.files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                ".labforge/requirements/constraints.txt",
                ".labforge/requirements/01.txt"
            ]
        );
    }
}
