//! Ward's web skin: the layout every page shares, the interface texts in Korean and English,
//! the fingerprinted stylesheet and script, and the helper that turns an askama template into
//! an HTML response with Ward's security headers.
//!
//! The pages themselves live beside their data: the query API's `pages` module (boards,
//! hospitals, my page) and the command API's (sign-in, the moderation queue, form errors).
//! Templates are checked at compile time and escape every value they print.
//!
//! # Layout
//! - [`lang`]: choosing Korean or English, and every text of the interface in both.
//! - [`assets`]: the stylesheet and script, named by their hash and cached for a year.
//! - [`page`]: the context every page carries ([`Chrome`]), rendering, and the error page.

pub mod assets;
pub mod lang;
pub mod page;

pub use lang::{Lang, Texts};
pub use page::{error_page, html, Chrome, ErrorPage};
