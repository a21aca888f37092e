pub struct CsvAnalysis;
pub struct CsvOptions;
pub enum CsvFormat {}
pub fn analyze_components_csv() {}
