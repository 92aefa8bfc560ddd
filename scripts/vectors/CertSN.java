// Prints, for each certificate file given, what Alipay's Java SDK computes: the issuer as
// X509Certificate.getIssuerX500Principal().getName() (RFC 2253), the serial number in decimal, and the SN, the
// lowercase hex MD5 (zero-padded to 32 digits) of the issuer name followed by the serial, as UTF-8 bytes; and
// whether the signature algorithm OID is an RSA one (1.2.840.113549.1.1.*), the root-bundle filter.
// One JSON object per line. Run with the JDK alone: java scripts/vectors/CertSN.java FILE...
import java.io.FileInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

public class CertSN {
    public static void main(String[] args) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        for (String path : args) {
            X509Certificate certificate;
            try (FileInputStream input = new FileInputStream(path)) {
                certificate = (X509Certificate) factory.generateCertificate(input);
            }
            String issuer = certificate.getIssuerX500Principal().getName();
            String serial = certificate.getSerialNumber().toString();
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            String hex = new BigInteger(1, md5.digest((issuer + serial).getBytes(StandardCharsets.UTF_8))).toString(16);
            while (hex.length() < 32) hex = "0" + hex;
            boolean rsa = certificate.getSigAlgOID().startsWith("1.2.840.113549.1.1");
            System.out.println("{\"file\":" + json(path.substring(path.lastIndexOf('/') + 1)) + ",\"issuer\":" + json(issuer)
                + ",\"serial_decimal\":" + json(serial) + ",\"sn\":" + json(hex) + ",\"rsa_signed\":" + rsa + "}");
        }
    }

    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}
