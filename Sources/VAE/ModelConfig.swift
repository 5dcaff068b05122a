/// Which latent-variable model to build.
public enum Architecture: String, Codable, CaseIterable, Sendable {
    /// One stochastic layer z.
    case vae
    /// Two stochastic layers: q(z2|x), q(z1|x,z2), p(z1|z2), p(x|z1,z2).
    case hvae
}

/// The prior on the (top) latent.
public enum PriorKind: String, Codable, CaseIterable, Sendable {
    /// N(0, I).
    case standard
    /// The VampPrior: a mixture of the encoder's posteriors at K learned pseudo-inputs.
    case vampprior
    /// A mixture of K learned diagonal Gaussians.
    case mog
}

/// The decoder's observation model.
public enum Likelihood: String, Codable, CaseIterable, Sendable {
    /// Bernoulli with mean σ(logits), for binary images.
    case bernoulli
    /// 256-bin discretized logistic, for grey images scaled to (v + ½)/256.
    case logistic256
}

/// Everything that fixes a model's shape and initial values. Defaults are the paper's.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var architecture: Architecture = .vae
    public var prior: PriorKind = .vampprior
    public var likelihood: Likelihood = .bernoulli
    /// Pixels per image, D.
    public var inputSize = 784
    /// Units of every GatedDense layer.
    public var hiddenSize = 300
    /// Size of each latent, M.
    public var latentSize = 40
    /// Mixture components (pseudo-inputs for the VampPrior), K.
    public var components = 500
    /// Pseudo-input weights start at N(mean, std²) (before hardtanh(·, 0, 1)).
    public var pseudoInputMean = 0.05
    public var pseudoInputStd = 0.01

    public init(architecture: Architecture = .vae, prior: PriorKind = .vampprior,
                likelihood: Likelihood = .bernoulli, inputSize: Int = 784, hiddenSize: Int = 300,
                latentSize: Int = 40, components: Int = 500) {
        self.architecture = architecture
        self.prior = prior
        self.likelihood = likelihood
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.latentSize = latentSize
        self.components = components
    }

    /// Noise values a sample needs per step: M for `vae`, 2M for `hvae` (ε₁ then ε₂).
    public var noiseWidth: Int { architecture == .vae ? latentSize : 2 * latentSize }
}
