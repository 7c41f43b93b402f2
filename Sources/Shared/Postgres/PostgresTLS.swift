import NIOSSL
import PostgresNIO
import SharedConfiguration

/// How a service talks TLS to Postgres, with the modes and names of libpq's `sslmode`.
public struct PostgresTLS: Sendable {
    /// libpq's `sslmode` values this project supports.
    public enum Mode: String, CaseIterable, Sendable {
        /// Plain TCP only.
        case disable
        /// TLS when the server offers it, plain TCP when it does not; the certificate is not
        /// checked (protects against reading the traffic, not against a server in the middle).
        case prefer
        /// TLS or no connection; the certificate is not checked.
        case require
        /// TLS or no connection; the certificate must chain to the root certificate (or the
        /// system's roots), whatever name it carries.
        case verifyCA = "verify-ca"
        /// TLS or no connection; the certificate must chain to the root certificate (or the
        /// system's roots) and name the host connected to.
        case verifyFull = "verify-full"

        /// The mode `text` names, or a ``SettingError`` naming `setting` and the choices.
        public init(named text: String, for setting: String) throws {
            guard let mode = Mode(rawValue: text.lowercased()) else {
                throw SettingError(
                    "\(setting) '\(text)' is not one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self = mode
        }
    }

    /// The mode.
    public let mode: Mode
    /// The TLS settings, `nil` for ``Mode/disable``.
    private let configuration: TLSConfiguration?
    /// The same settings made into a context, which a single connection takes.
    private let context: NIOSSLContext?

    /// No TLS.
    public static let disable = PostgresTLS(mode: .disable, configuration: nil, context: nil)

    private init(mode: Mode, configuration: TLSConfiguration?, context: NIOSSLContext?) {
        self.mode = mode
        self.configuration = configuration
        self.context = context
    }

    /// The settings for `mode`, checking certificates against the PEM file at `rootCertificate`
    /// when given (else the system's roots) in the `verify-*` modes.
    public init(mode: Mode, rootCertificate: String?) throws {
        guard mode != .disable else {
            self = .disable
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable, .prefer, .require:
            configuration.certificateVerification = .none
            // Nothing is checked against them: the system's bundle is not even loaded.
            configuration.trustRoots = .certificates([])
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let rootCertificate, mode == .verifyCA || mode == .verifyFull {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(rootCertificate))
            } catch {
                throw SettingError("cannot read the Postgres root certificate \(rootCertificate): \(error)")
            }
        }
        self.init(mode: mode, configuration: configuration, context: try NIOSSLContext(configuration: configuration))
    }

    /// The setting for a pool of connections.
    public var forClient: PostgresClient.Configuration.TLS {
        guard let configuration else { return .disable }
        return mode == .prefer ? .prefer(configuration) : .require(configuration)
    }

    /// The setting for a single connection.
    public var forConnection: PostgresConnection.Configuration.TLS {
        guard let context else { return .disable }
        return mode == .prefer ? .prefer(context) : .require(context)
    }
}
