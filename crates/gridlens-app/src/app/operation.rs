//! What the user asks to see: a preset (time mean, day − mean, subsample, single day) or an
//! expression, turned into engine expressions for display and for export.

/// The operations offered as one click.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    TimeMean,
    DayMinusMean,
    Subsample,
    SingleDay,
    Expression,
}

impl Preset {
    pub const ALL: [Preset; 5] = [Preset::TimeMean, Preset::DayMinusMean, Preset::Subsample, Preset::SingleDay, Preset::Expression];

    pub fn label(self) -> &'static str {
        match self {
            Preset::TimeMean => "Time mean",
            Preset::DayMinusMean => "Day − mean",
            Preset::Subsample => "Subsample",
            Preset::SingleDay => "Single day",
            Preset::Expression => "Expression",
        }
    }

    /// A preset by its command-line name (`time-mean`, `day-mean`, `subsample`, `single-day`).
    pub fn parse(name: &str) -> Option<Preset> {
        Some(match name {
            "time-mean" => Preset::TimeMean,
            "day-mean" | "day-minus-mean" => Preset::DayMinusMean,
            "subsample" => Preset::Subsample,
            "single-day" => Preset::SingleDay,
            _ => return None,
        })
    }

    /// Whether the day picker applies.
    pub fn uses_day(self) -> bool {
        matches!(self, Preset::DayMinusMean | Preset::Subsample | Preset::SingleDay)
    }
}

/// The current operation and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub preset: Preset,
    /// Index along the stack axis (a day).
    pub day: usize,
    /// Subsample factor along each image axis.
    pub factor: (usize, usize),
    /// The expression box's text (the array is bound to `x`).
    pub expression: String,
}

impl Default for Operation {
    fn default() -> Operation {
        Operation { preset: Preset::TimeMean, day: 0, factor: (2, 2), expression: "x.mean(axis=0)".into() }
    }
}

impl Operation {
    /// The expression whose result the view shows: always a 2-D image (or fewer dimensions
    /// for expressions), with `x` the stacked array of `ndim` dimensions.
    pub fn display_expression(&self, ndim: usize) -> String {
        let lead = if ndim >= 3 { format!("{}, ", self.day) } else { String::new() };
        match self.preset {
            // missing values are skipped, as xarray's `.mean("time")` does: one missing day
            // must not blank a pixel's mean of thirty
            Preset::TimeMean if ndim >= 3 => "nanmean(x, axis=0)".into(),
            Preset::TimeMean => "x".into(),
            Preset::DayMinusMean if ndim >= 3 => format!("x[{}] - nanmean(x, axis=0)", self.day),
            Preset::DayMinusMean => "x - nanmean(x)".into(),
            Preset::Subsample => format!("x[{lead}::{}, ::{}]", self.factor.0.max(1), self.factor.1.max(1)),
            Preset::SingleDay if ndim >= 3 => format!("x[{}]", self.day),
            Preset::SingleDay => "x".into(),
            Preset::Expression => self.expression.clone(),
        }
    }

    /// The expression an export stores: the whole result (e.g. every day of a subsample).
    pub fn result_expression(&self, ndim: usize) -> String {
        match self.preset {
            Preset::Subsample if ndim >= 3 => format!("x[:, ::{}, ::{}]", self.factor.0.max(1), self.factor.1.max(1)),
            _ => self.display_expression(ndim),
        }
    }

    /// Maps a pixel of the displayed image to the element of `x`'s last two axes it shows,
    /// when the operation keeps the grid (presets); `None` for expressions.
    pub fn source_pixel(&self, row: usize, col: usize) -> Option<(usize, usize)> {
        match self.preset {
            Preset::Subsample => Some((row * self.factor.0.max(1), col * self.factor.1.max(1))),
            Preset::Expression => None,
            _ => Some((row, col)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_build_the_tutorial_expressions() {
        let mut op = Operation::default();
        assert_eq!(op.display_expression(3), "nanmean(x, axis=0)");
        op.preset = Preset::DayMinusMean;
        op.day = 4;
        assert_eq!(op.display_expression(3), "x[4] - nanmean(x, axis=0)");
        op.preset = Preset::Subsample;
        assert_eq!(op.display_expression(3), "x[4, ::2, ::2]");
        assert_eq!(op.result_expression(3), "x[:, ::2, ::2]");
        assert_eq!(op.source_pixel(10, 3), Some((20, 6)));
    }
}
