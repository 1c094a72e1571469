//! `cryptotl datasets`: list the built-in data sets.

use cryptotl::data::DatasetId;
use cryptotl::Error;

pub(crate) fn run() -> Result<(), Error> {
    for id in DatasetId::all() {
        println!("{:<16} {}", id.name(), id.description());
    }
    Ok(())
}
