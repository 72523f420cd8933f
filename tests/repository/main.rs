//! Checks of the repository itself, without starting a broker: every link
//! of the documentation resolves and every page is reachable from the
//! README (`docs_links`), and modules depend one way, as the layer rule at
//! the top of ARCHITECTURE.md says (`layers`).

mod docs_links;
mod layers;
