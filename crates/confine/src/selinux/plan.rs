//! What the SELinux driver does for one start, decided before it: QEMU's exec
//! label and each file's label, in the executor's terms.

use std::path::PathBuf;

use super::context::{Context, VirtContexts};
use super::decision::SelinuxDecision;
use super::error::SelinuxError;
use super::labels::{ImageUse, build_labels_with};
use super::mcs::{McsTable, urandom_below};
use crate::exec::FileLabel;

/// A file QEMU uses, as the SELinux driver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelTarget {
    pub path: PathBuf,
    /// How the domain uses it; `None`: its label is not touched.
    pub usage: Option<ImageUse>,
    /// The device it belongs to, for messages.
    pub origin: String,
}

/// QEMU's exec label, the file labels, and the MCS level taken from the table (to
/// give back when the domain stops).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelinuxPlan {
    pub exec_label: Option<String>,
    pub files: Vec<FileLabel>,
    pub allocated_mcs: Option<String>,
}

/// The labels of a start with `decision`; a dynamic level comes from `table`.
pub fn plan_labels(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
    targets: &[LabelTarget],
    remember: bool,
) -> Result<SelinuxPlan, SelinuxError> {
    plan_labels_with(
        decision,
        contexts,
        own,
        tcg,
        table,
        targets,
        remember,
        &mut urandom_below,
    )
}

/// [`plan_labels`] with a supplied random source (tests).
#[allow(clippy::too_many_arguments)] // the decision's inputs, named
pub fn plan_labels_with(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
    targets: &[LabelTarget],
    remember: bool,
    rand: &mut dyn FnMut(u32) -> u32,
) -> Result<SelinuxPlan, SelinuxError> {
    let Some(labels) = build_labels_with(decision, contexts, own, tcg, table, rand)? else {
        return Ok(SelinuxPlan::default());
    };
    let files = if decision.relabel() {
        targets
            .iter()
            .filter_map(|t| {
                Some(FileLabel {
                    path: t.path.clone(),
                    label: labels.image_label(contexts, t.usage?),
                    remember,
                    origin: t.origin.clone(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(SelinuxPlan {
        exec_label: labels.process.clone(),
        files,
        allocated_mcs: labels.allocated.then(|| labels.mcs.clone()),
    })
}
