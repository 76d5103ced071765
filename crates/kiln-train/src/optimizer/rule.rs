//! What every update rule provides (one file per rule beside this one), and the glue that
//! runs an elementwise rule on both paths from its one definition.

use burn::tensor::Tensor;

use super::elem::Elem;

/// The host scalars of one step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// The learning rate of this update (after the schedule).
    pub lr: f32,
    /// Keras's `iterations + 1`.
    pub t: u64,
    /// Nadam's running product of momentum factors, this step's included.
    pub nadam_product: f32,
    /// Whether the learning rate comes from a schedule (Adafactor's relative step applies to
    /// a constant rate only).
    pub scheduled: bool,
}

/// What an update knows about the parameter besides its values (which are always flat).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamInfo<'a> {
    /// The weight's shape as the layer declares it (Adafactor factors its last two axes, Muon
    /// orthogonalizes matrices).
    pub shape: &'a [usize],
    /// Keras's path of the weight (`dense/kernel`), for rules that treat some weights apart.
    pub path: &'a str,
}

/// One per-parameter state tensor of a rule (Keras's optimizer variable).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    /// Keras's name (`momentum`, `velocity`, ...).
    pub name: &'static str,
    /// Its shape (Keras's; mostly the parameter's).
    pub shape: Vec<usize>,
    /// Its value before the first update.
    pub initial: f32,
}

impl Slot {
    /// A zero-initialized slot shaped like the parameter.
    pub fn like(name: &'static str, info: &ParamInfo) -> Self {
        Self {
            name,
            shape: info.shape.to_vec(),
            initial: 0.0,
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One optimizer rule of Keras: its options (the implementing struct, serialized with Keras's
/// config keys), its per-parameter slots and its update.
pub(crate) trait UpdateRule {
    /// Keras's class name.
    const CLASS: &'static str;

    /// Whether [`fused`](UpdateRule::fused) has a kernel.
    const FUSED: bool = false;

    /// The slots a parameter keeps, in the order `update` receives them.
    fn slots(&self, info: &ParamInfo) -> Vec<Slot>;

    /// Keras's order of the slots in `optimizer.variables`: each group in turn, and within a
    /// group the parameters in turn, each with those of the group's slots it has (one
    /// `add_optimizer_variables` call is one group).
    fn keras_groups(&self) -> Vec<Vec<&'static str>>;

    /// The weight decay applied to this parameter before the update (Muon decays its matrices
    /// and its AdamW weights by different amounts).
    fn weight_decay(&self, configured: Option<f32>, _info: &ParamInfo) -> Option<f32> {
        configured
    }

    /// One update of one parameter (flat), on any backend; may replace the slots' values.
    fn update(
        &self,
        step: &Step,
        info: &ParamInfo,
        p: Tensor<1>,
        g: Tensor<1>,
        slots: &mut [Tensor<1>],
    ) -> Tensor<1>;

    /// The same update in place on host memory, when the rule has such a kernel: `false`
    /// (nothing touched) otherwise.
    #[cfg(feature = "flex")]
    fn fused(&self, _step: &Step, _p: &mut [f32], _g: &[f32], _slots: &mut [&mut [f32]]) -> bool {
        false
    }
}

/// A rule whose update is elementwise: written once as [`apply`](Elementwise::apply), which
/// runs on whole tensors (portable path) and on single `f32`s in one fused pass (flex).
pub(crate) trait Elementwise {
    /// What `apply` needs of the options and the step.
    type Scalars: Copy;

    /// This step's scalars.
    fn scalars(&self, step: &Step) -> Self::Scalars;

    /// The update of `p` given `g`, with `slots` as [`UpdateRule::slots`] lists them.
    fn apply<T: Elem>(k: Self::Scalars, p: &mut T, g: &T, slots: &mut [T]);
}

/// Implements [`UpdateRule::update`] and [`UpdateRule::fused`] from the rule's
/// [`Elementwise`] definition.
macro_rules! elementwise_update {
    () => {
        const FUSED: bool = true;

        fn update(
            &self,
            step: &$crate::optimizer::rule::Step,
            _info: &$crate::optimizer::rule::ParamInfo,
            mut p: burn::tensor::Tensor<1>,
            g: burn::tensor::Tensor<1>,
            slots: &mut [burn::tensor::Tensor<1>],
        ) -> burn::tensor::Tensor<1> {
            let k = $crate::optimizer::rule::Elementwise::scalars(self, step);
            <Self as $crate::optimizer::rule::Elementwise>::apply(k, &mut p, &g, slots);
            p
        }

        #[cfg(feature = "flex")]
        fn fused(
            &self,
            step: &$crate::optimizer::rule::Step,
            p: &mut [f32],
            g: &[f32],
            slots: &mut [&mut [f32]],
        ) -> bool {
            let k = $crate::optimizer::rule::Elementwise::scalars(self, step);
            $crate::optimizer::fused::run::<Self>(k, p, g, slots)
        }
    };
}
pub(crate) use elementwise_update;

/// [`UpdateRule::FUSED`] of a value's rule.
pub(crate) fn has_fused<R: UpdateRule>(_: &R) -> bool {
    R::FUSED
}
