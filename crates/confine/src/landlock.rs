//! landlock (in progress)
