//! Loading detector sets: the default set embedded in the binary, or every `*.yaml` / `*.yml`
//! file of a directory (`--detectors DIR` replaces the default set). Every error in every file
//! is reported at once; a set with any error does not load.

use std::path::Path;
use std::sync::Arc;

use super::spec::{compile, Detector, DetectorFile};

macro_rules! embed {
    ($name:literal) => {
        ($name, include_str!(concat!("../../detectors/", $name)))
    };
}

/// The default detectors, compiled into the binary from `detectors/`.
pub const EMBEDDED: &[(&str, &str)] = &[
    embed!("approval-bypass.yaml"),
    embed!("approval-bypass-repeated.yaml"),
    embed!("break-glass-habitual.yaml"),
    embed!("break-glass-session-overrun.yaml"),
    embed!("break-glass-ships-code.yaml"),
    embed!("break-glass-unapproved.yaml"),
    embed!("credential-multi-network.yaml"),
    embed!("exception-path-unhealthy.yaml"),
    embed!("root-console-no-mfa.yaml"),
    embed!("service-identity-interactive-client.yaml"),
    embed!("standing-token-age.yaml"),
    embed!("standing-token-fanout.yaml"),
    embed!("standing-token-multi-network.yaml"),
];

#[derive(Debug, thiserror::Error)]
#[error("invalid detectors:\n  {}", .errors.join("\n  "))]
pub struct LoadError {
    pub errors: Vec<String>,
}

/// Parse, validate and compile `(file name, YAML text)` pairs. Detectors come back sorted by id.
pub fn load_texts<'a>(
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Vec<Arc<Detector>>, LoadError> {
    let mut errors = Vec::new();
    let mut out: Vec<Detector> = Vec::new();
    for (name, text) in files {
        match serde_yaml_ng::from_str::<DetectorFile>(text) {
            Ok(f) => {
                if let Some(d) = compile(&name, f, &mut errors) {
                    out.push(d);
                }
            }
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in out.windows(2) {
        if pair[0].id == pair[1].id {
            errors.push(format!(
                "{}: detector {}: id: also defined in {}",
                pair[1].file, pair[1].id, pair[0].file
            ));
        }
    }
    if errors.is_empty() && out.is_empty() {
        errors.push("no detectors found".to_string());
    }
    if errors.is_empty() {
        Ok(out.into_iter().map(Arc::new).collect())
    } else {
        Err(LoadError { errors })
    }
}

pub fn load_embedded() -> Result<Vec<Arc<Detector>>, LoadError> {
    load_texts(EMBEDDED.iter().map(|(n, t)| (format!("detectors/{n}"), *t)))
}

/// Load every `*.yaml` / `*.yml` file directly inside `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Arc<Detector>>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError {
        errors: vec![format!(
            "{}: cannot read detector directory: {e}",
            dir.display()
        )],
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    paths.sort();
    let mut texts = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::read_to_string(&p) {
            Ok(t) => texts.push((p.display().to_string(), t)),
            Err(e) => errors.push(format!("{}: {e}", p.display())),
        }
    }
    if texts.is_empty() && errors.is_empty() {
        errors.push(format!("{}: no *.yaml detector files", dir.display()));
    }
    let loaded = load_texts(texts.iter().map(|(n, t)| (n.clone(), t.as_str())));
    match (loaded, errors.is_empty()) {
        (Ok(d), true) => Ok(d),
        (Ok(_), false) => Err(LoadError { errors }),
        (Err(mut e), _) => {
            errors.append(&mut e.errors);
            Err(LoadError { errors })
        }
    }
}

/// `--detectors DIR` when given, else the embedded set.
pub fn load(dir: Option<&Path>) -> Result<Vec<Arc<Detector>>, LoadError> {
    match dir {
        Some(d) => load_dir(d),
        None => load_embedded(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_set_is_every_file_in_detectors_dir() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("detectors");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "add new detector files to EMBEDDED");
        for (name, text) in EMBEDDED {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text);
        }
        let from_dir = load_dir(&dir).unwrap();
        let embedded = load_embedded().unwrap();
        assert_eq!(from_dir.len(), embedded.len());
    }

    #[test]
    fn every_error_is_reported_with_file_id_and_field() {
        let bad = r#"
id: bad-one
title: ""
family: credential_sharin
severity: urgent
match:
  actor.nmae: x
correlation:
  type: value_count
  group-by: [credential.idd]
  timespan: ten minutes
  condition: {gte: 3, field: source.net}
  grace: 5m
tests: []
"#;
        let err = load_texts([("x.yaml".to_string(), bad)]).unwrap_err();
        let all = err.errors.join("\n");
        for needle in [
            "x.yaml: detector bad-one: title",
            "family: unknown value \"credential_sharin\"",
            "severity: unknown value \"urgent\"",
            "unknown field \"actor.nmae\"",
            "unknown field \"credential.idd\"",
            "correlation.timespan: invalid duration",
            "correlation.grace: does not apply to type value_count",
            "tests: at least one",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let err = load_texts([("y.yaml".to_string(), "id: [")]).unwrap_err();
        assert!(err.errors[0].starts_with("y.yaml: "), "{err}");
    }
}
