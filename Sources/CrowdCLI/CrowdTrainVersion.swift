/// The release version printed by `crowdtrain --version`.
public enum CrowdTrainVersion {
    public static let string = "0.1.0"
}
