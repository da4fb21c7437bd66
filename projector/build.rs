// `sqlx::migrate!` embeds the migrations folder at compile time; without this, a build whose
// sources did not change would keep embedding an older set of migrations.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
