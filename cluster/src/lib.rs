//! dqc on Ballista.
