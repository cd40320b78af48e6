//! The golden-file updater shared by every golden test: `UPDATE_GOLDEN=1` rewrites the files
//! instead of comparing them.

use std::path::Path;

/// Whether this run rewrites the golden files (`UPDATE_GOLDEN` is set).
pub(crate) fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `actual` with the golden file `path`, pushing a difference onto `failures`; when
/// [`updating`], writes `actual` there instead (an empty `actual` removes the file).
pub(crate) fn golden(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if updating() {
        if actual.is_empty() {
            let _ = std::fs::remove_file(path);
        } else {
            std::fs::write(path, actual).unwrap();
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}: differs\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        ));
    }
}
