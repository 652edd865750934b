package org.brainregistry.hapi;

import ca.uhn.fhir.util.VersionUtil;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records in the database which HAPI version last brought the schema up to date, so later starts
 * can skip Hibernate's schema update. The update reads the metadata of every HAPI table and took
 * 3 to 5 s of each start on a 2-core machine, although the schema only changes with the HAPI
 * version.
 */
final class SchemaMarker {

  private static final Logger LOG = LoggerFactory.getLogger(SchemaMarker.class);
  private static final String TABLE = "brain_registry_hapi_schema";

  private SchemaMarker() {}

  /** Returns "hapi-<version>", the value that marks a schema made by this build. */
  static String currentMarker() {
    return "hapi-" + VersionUtil.getVersion();
  }

  /** Returns whether HAPI's tables exist and the marker names the running HAPI version. */
  static boolean isCurrent(DataSource dataSource) {
    String sql =
        "SELECT to_regclass('hfj_resource') IS NOT NULL"
            + " AND EXISTS (SELECT 1 FROM "
            + TABLE
            + " WHERE marker = ?)";
    try (Connection connection = dataSource.getConnection();
        PreparedStatement statement = connection.prepareStatement(sql)) {
      statement.setString(1, currentMarker());
      try (ResultSet result = statement.executeQuery()) {
        return result.next() && result.getBoolean(1);
      }
    } catch (SQLException e) {
      // The marker table is missing in a new database, so the schema update must run.
      LOG.debug("No schema marker found: {}", e.getMessage());
      return false;
    }
  }

  /** Stores the marker after the schema update has finished. */
  static void record(DataSource dataSource) throws SQLException {
    try (Connection connection = dataSource.getConnection();
        Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE IF NOT EXISTS "
              + TABLE
              + " (marker varchar(100) PRIMARY KEY,"
              + " recorded_at timestamptz NOT NULL DEFAULT now())");
      try (PreparedStatement insert =
          connection.prepareStatement(
              "INSERT INTO " + TABLE + " (marker) VALUES (?) ON CONFLICT (marker) DO NOTHING")) {
        insert.setString(1, currentMarker());
        insert.executeUpdate();
      }
    }
  }
}
