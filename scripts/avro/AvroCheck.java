// What a data team's Java reader makes of postbackd's Avro: run by
// scripts/avro.sh as a single-file program on Apache Avro's classpath.
//
//   fingerprint FILE.avsc...  prints "FILE 0x<16 hex digits>" per schema:
//                             SchemaNormalization.parsingFingerprint64
//   decode FILE.avsc          reads single-object messages, one hex line
//                             each, on stdin, decodes each with a
//                             BinaryMessageDecoder of that schema and
//                             prints it as one JSON line
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

public class AvroCheck {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: AvroCheck fingerprint FILE.avsc... | decode FILE.avsc < hex-lines");
            System.exit(2);
        }
        switch (args[0]) {
            case "fingerprint":
                for (int i = 1; i < args.length; i++) {
                    Schema s = new Schema.Parser().parse(new File(args[i]));
                    System.out.printf("%s 0x%016x%n", args[i], SchemaNormalization.parsingFingerprint64(s));
                }
                break;
            case "decode":
                Schema s = new Schema.Parser().parse(new File(args[1]));
                BinaryMessageDecoder<GenericRecord> d = new BinaryMessageDecoder<>(GenericData.get(), s);
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.isBlank()) {
                        continue;
                    }
                    GenericRecord r = d.decode(HexFormat.of().parseHex(line.trim()));
                    System.out.println(GenericData.get().toString(r));
                }
                break;
            default:
                System.err.println("unknown command " + args[0]);
                System.exit(2);
        }
    }
}
