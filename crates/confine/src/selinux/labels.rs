//! The labels of one domain: QEMU's process context and its images' labels.

use super::context::{Context, VirtContexts};
use super::decision::SelinuxDecision;
use super::error::SelinuxError;
use super::mcs::{McsTable, parse_process_range, urandom_below};

/// The labels of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainLabels {
    /// QEMU's exec context (`None`: unconfined).
    pub process: Option<String>,
    /// Label for the domain's own files (`svirt_image_t:s0:cX,cY`).
    pub image: String,
    /// The MCS level (`s0:cX,cY`, or the sensitivity alone when unconfined).
    pub mcs: String,
    /// The level was allocated from the table (release it when the domain stops).
    pub allocated: bool,
}

/// How a disk is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUse {
    Exclusive,
    /// `<shareable/>`.
    Shared,
    /// `<readonly/>`.
    Readonly,
}

/// A disk's own `<seclabel model='selinux'>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskSeclabel {
    pub relabel: bool,
    pub label: Option<String>,
}

/// Build the labels for a decision. `own` is the daemon's context; `tcg` selects the
/// TCG process context when the policy has one. Dynamic levels are taken from
/// `table`.
pub fn build_labels(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
) -> Result<Option<DomainLabels>, SelinuxError> {
    build_labels_with(decision, contexts, own, tcg, table, &mut urandom_below)
}

/// [`build_labels`] with a supplied random source.
pub fn build_labels_with(
    decision: &SelinuxDecision,
    contexts: &VirtContexts,
    own: &Context,
    tcg: bool,
    table: &mut McsTable,
    rand: &mut dyn FnMut(u32) -> u32,
) -> Result<Option<DomainLabels>, SelinuxError> {
    let image_for = |mcs: &str| Context::derive(&contexts.image, own, mcs, true).to_string();
    match decision {
        SelinuxDecision::Inactive => Ok(None),
        SelinuxDecision::Unconfined => {
            let range = parse_process_range(own.range.as_deref())?;
            Ok(Some(DomainLabels {
                process: None,
                image: image_for(&range.sens),
                mcs: range.sens,
                allocated: false,
            }))
        }
        SelinuxDecision::Static { label, .. } => {
            let ctx: Context = label.parse()?;
            let mcs = ctx
                .range
                .ok_or_else(|| SelinuxError::NoRange(label.clone()))?;
            Ok(Some(DomainLabels {
                process: Some(label.clone()),
                image: image_for(&mcs),
                mcs,
                allocated: false,
            }))
        }
        SelinuxDecision::Dynamic { baselabel } => {
            let base = match baselabel {
                Some(b) => b.parse()?,
                None if tcg => contexts
                    .tcg_domain
                    .clone()
                    .unwrap_or_else(|| contexts.domain.clone()),
                None => contexts.domain.clone(),
            };
            let range = parse_process_range(own.range.as_deref())?;
            let mcs = table.allocate_with(&range, rand)?;
            Ok(Some(DomainLabels {
                process: Some(Context::derive(&base, own, &mcs, false).to_string()),
                image: image_for(&mcs),
                mcs,
                allocated: true,
            }))
        }
    }
}

impl DomainLabels {
    /// The label for a disk image, or `None` when it must not be touched (the domain
    /// does not relabel, or the disk says `relabel='no'`). A disk `<label>` is used as
    /// given.
    pub fn disk_label(
        &self,
        decision: &SelinuxDecision,
        contexts: &VirtContexts,
        disk: Option<&DiskSeclabel>,
        usage: ImageUse,
    ) -> Option<String> {
        if !decision.relabel() {
            return None;
        }
        if let Some(d) = disk {
            if !d.relabel {
                return None;
            }
            if let Some(l) = &d.label {
                return Some(l.clone());
            }
        }
        Some(self.image_label(contexts, usage))
    }

    /// Exclusive: the domain's image label; shared: the image context without
    /// categories; read-only: the content context (the shared label if the policy has
    /// none).
    pub fn image_label(&self, contexts: &VirtContexts, usage: ImageUse) -> String {
        match usage {
            ImageUse::Exclusive => self.image.clone(),
            ImageUse::Shared => contexts.image.to_string(),
            ImageUse::Readonly => contexts
                .content
                .as_ref()
                .unwrap_or(&contexts.image)
                .to_string(),
        }
    }
}
