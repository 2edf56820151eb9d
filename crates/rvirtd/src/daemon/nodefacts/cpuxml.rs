//! CPU definitions clients send (`virsh hypervisor-cpu-compare`,
//! `hypervisor-cpu-baseline`, KubeVirt's node labeller, virt-install's
//! security-feature lookup): reading a `<cpu>`, comparing it with what this
//! host and emulator provide, and the baseline of several.

use qemu::Capabilities;

/// A parsed `<cpu>`: mode, model, vendor and features with their policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuDef {
    /// `mode` (`custom` when absent).
    pub mode: String,
    /// `<model>`.
    pub model: Option<String>,
    /// `<vendor>`.
    pub vendor: Option<String>,
    /// `(policy, name)`; policy `require` when absent.
    pub features: Vec<(String, String)>,
}

/// Why a `<cpu>` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuXmlError {
    /// Not well-formed XML.
    #[error("{0}")]
    Xml(String),
    /// No `<cpu>` element anywhere in it.
    #[error("missing <cpu> element")]
    NoCpu,
    /// Nothing given.
    #[error("no CPU definition given")]
    Empty,
    /// A model the emulator does not know.
    #[error("Unknown CPU model {0}")]
    UnknownModel(String),
}

/// Reads the first `<cpu>` in `xml` (a bare `<cpu>`, or one inside
/// capabilities or domain XML, as virsh passes them).
pub fn parse(xml: &str) -> Result<CpuDef, CpuXmlError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| CpuXmlError::Xml(e.to_string()))?;
    // The first `<cpu>` that is a definition, not a topology entry
    // (`<cpus><cpu id=.../>` in capabilities).
    let cpu = doc
        .descendants()
        .find(|n| n.has_tag_name("cpu") && !n.parent().is_some_and(|p| p.has_tag_name("cpus")))
        .ok_or(CpuXmlError::NoCpu)?;
    let child_text = |tag: &str| {
        cpu.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    Ok(CpuDef {
        mode: cpu.attribute("mode").unwrap_or("custom").to_owned(),
        model: child_text("model"),
        vendor: child_text("vendor"),
        features: cpu
            .children()
            .filter(|c| c.has_tag_name("feature"))
            .filter_map(|f| {
                Some((
                    f.attribute("policy").unwrap_or("require").to_owned(),
                    f.attribute("name")?.to_owned(),
                ))
            })
            .collect(),
    })
}

/// libvirt's name for a kernel `/proc/cpuinfo` flag where the two differ.
pub fn libvirt_feature_name(kernel: &str) -> String {
    match kernel {
        "sse4_1" => "sse4.1".into(),
        "sse4_2" => "sse4.2".into(),
        "pclmulqdq" => "pclmuldq".into(),
        "tsc_deadline_timer" => "tsc-deadline".into(),
        "lahf_lm" => "lahf_lm".into(),
        "cmp_legacy" => "cmp_legacy".into(),
        "tsc_adjust" => "tsc_adjust".into(),
        "nrip_save" => "nrip-save".into(),
        "flushbyasid" => "flushbyasid".into(),
        "avx512_bf16" => "avx512-bf16".into(),
        "avx512_vpopcntdq" => "avx512-vpopcntdq".into(),
        "avx512_4vnniw" => "avx512-4vnniw".into(),
        "avx512_4fmaps" => "avx512-4fmaps".into(),
        "avx512_vnni" => "avx512vnni".into(),
        "avx512_bitalg" => "avx512bitalg".into(),
        "avx512_vbmi2" => "avx512vbmi2".into(),
        "avx512_fp16" => "avx512-fp16".into(),
        "arch_capabilities" => "arch-capabilities".into(),
        "spec_ctrl" => "spec-ctrl".into(),
        "md_clear" => "md-clear".into(),
        "virt_ssbd" => "virt-ssbd".into(),
        "amd_ssbd" => "amd-ssbd".into(),
        "amd_stibp" => "amd-stibp".into(),
        "xsaveerptr" => "xsaveerptr".into(),
        "constant_tsc" | "nonstop_tsc" => "invtsc".into(),
        other => other.to_owned(),
    }
}

/// A spelling-insensitive key (`sse4.2`, `sse4_2`, `SSE4-2` alike).
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `virCPUCompareResult` of `def` against this host and emulator, with the
/// reason when incompatible. `host_flags` are the host's in libvirt spelling;
/// `usable(model)` tells whether the emulator can run a model here.
pub fn compare(
    def: &CpuDef,
    caps: &Capabilities,
    host_model: Option<&str>,
    host_flags: &[String],
    usable: impl Fn(&str) -> Option<bool>,
) -> Result<(i32, Option<String>), CpuXmlError> {
    use remote_protocol::procs::cpu_compare as C;
    if matches!(
        def.mode.as_str(),
        "host-passthrough" | "host-model" | "maximum"
    ) {
        return Ok((C::IDENTICAL, None));
    }
    let Some(model) = &def.model else {
        return Err(CpuXmlError::Empty);
    };
    if caps.cpu_model(model).is_none() {
        return Err(CpuXmlError::UnknownModel(model.clone()));
    }
    if usable(model) == Some(false) {
        let blockers = caps
            .cpu_model(model)
            .map(|m| m.unavailable_features.join(", "))
            .unwrap_or_default();
        return Ok((
            C::INCOMPATIBLE,
            Some(format!(
                "Host CPU does not provide required features: {blockers}"
            )),
        ));
    }
    let have: std::collections::BTreeSet<String> = host_flags.iter().map(|f| key(f)).collect();
    let missing: Vec<&str> = def
        .features
        .iter()
        .filter(|(p, n)| matches!(p.as_str(), "require" | "force") && !have.contains(&key(n)))
        .map(|(_, n)| n.as_str())
        .collect();
    if !missing.is_empty() {
        return Ok((
            C::INCOMPATIBLE,
            Some(format!(
                "Host CPU does not provide required features: {}",
                missing.join(", ")
            )),
        ));
    }
    let forbidden: Vec<&str> = def
        .features
        .iter()
        .filter(|(p, n)| p == "forbid" && have.contains(&key(n)))
        .map(|(_, n)| n.as_str())
        .collect();
    if !forbidden.is_empty() {
        return Ok((
            C::INCOMPATIBLE,
            Some(format!(
                "Host CPU provides forbidden features: {}",
                forbidden.join(", ")
            )),
        ));
    }
    if def.features.is_empty() && host_model == Some(model.as_str()) {
        Ok((C::IDENTICAL, None))
    } else {
        Ok((C::SUPERSET, None))
    }
}

/// The baseline of `cpus`: the first model, the common vendor, the features
/// every CPU requires (dropping `invtsc` when a migratable CPU is asked for).
pub fn baseline(
    cpus: &[CpuDef],
    caps: Option<&Capabilities>,
    migratable: bool,
) -> Result<String, CpuXmlError> {
    let first = cpus.first().ok_or(CpuXmlError::Empty)?;
    let model = cpus
        .iter()
        .find_map(|c| c.model.clone())
        .ok_or(CpuXmlError::Empty)?;
    if let Some(caps) = caps
        && caps.cpu_model(&model).is_none()
    {
        return Err(CpuXmlError::UnknownModel(model));
    }
    let vendor = first.vendor.clone().filter(|v| {
        cpus.iter()
            .all(|c| c.vendor.as_ref().is_none_or(|w| w == v))
    });
    let required = |c: &CpuDef| -> Vec<String> {
        c.features
            .iter()
            .filter(|(p, _)| matches!(p.as_str(), "require" | "force"))
            .map(|(_, n)| n.clone())
            .collect()
    };
    let mut features = required(first);
    for c in &cpus[1..] {
        let theirs: Vec<String> = required(c).iter().map(|n| key(n)).collect();
        features.retain(|f| theirs.contains(&key(f)));
    }
    if migratable {
        features.retain(|f| f != "invtsc");
    }
    let disabled: Vec<String> = first
        .features
        .iter()
        .filter(|(p, _)| p == "disable" || p == "forbid")
        .map(|(_, n)| n.clone())
        .collect();
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('\'', "&apos;")
    };
    let mut x = format!(
        "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>{}</model>\n",
        esc(&model)
    );
    if let Some(v) = vendor {
        x.push_str(&format!("  <vendor>{}</vendor>\n", esc(&v)));
    }
    for f in features {
        x.push_str(&format!(
            "  <feature policy='require' name='{}'/>\n",
            esc(&f)
        ));
    }
    for f in disabled {
        x.push_str(&format!(
            "  <feature policy='disable' name='{}'/>\n",
            esc(&f)
        ));
    }
    x.push_str("</cpu>\n");
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_inside_other_documents() {
        let d = parse(
            "<capabilities><host><cpu><arch>x86_64</arch><model>EPYC</model>\
             <vendor>AMD</vendor><feature name='x2apic'/>\
             <feature policy='disable' name='svm'/></cpu></host></capabilities>",
        )
        .unwrap();
        assert_eq!(d.mode, "custom");
        assert_eq!(d.model.as_deref(), Some("EPYC"));
        assert_eq!(d.vendor.as_deref(), Some("AMD"));
        assert_eq!(
            d.features,
            vec![
                ("require".into(), "x2apic".into()),
                ("disable".into(), "svm".into())
            ]
        );
        assert_eq!(parse("<domain/>"), Err(CpuXmlError::NoCpu));
        assert!(matches!(parse("<cpu"), Err(CpuXmlError::Xml(_))));
    }

    #[test]
    fn baseline_keeps_common_required_features() {
        let a = parse("<cpu><model>EPYC</model><vendor>AMD</vendor><feature name='ssbd'/><feature name='invtsc'/><feature name='x2apic'/></cpu>").unwrap();
        let b = parse("<cpu><model>EPYC</model><vendor>AMD</vendor><feature name='x2apic'/><feature name='invtsc'/></cpu>").unwrap();
        assert_eq!(
            baseline(&[a.clone(), b], None, true).unwrap(),
            "<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>EPYC</model>\n  \
             <vendor>AMD</vendor>\n  <feature policy='require' name='x2apic'/>\n</cpu>\n"
        );
        assert!(
            baseline(&[a], None, false)
                .unwrap()
                .contains("name='invtsc'")
        );
        assert_eq!(baseline(&[], None, false), Err(CpuXmlError::Empty));
    }

    #[test]
    fn kernel_flag_spellings() {
        assert_eq!(libvirt_feature_name("sse4_2"), "sse4.2");
        assert_eq!(libvirt_feature_name("tsc_deadline_timer"), "tsc-deadline");
        assert_eq!(key("sse4.2"), key("sse4_2"));
    }
}
