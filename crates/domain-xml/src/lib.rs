//! domain-xml
