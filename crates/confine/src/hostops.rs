//! hostops (in progress)
